#!/usr/bin/env bash
# Start one KRaft node (broker + controller): write server.properties and a
# console log4j2 config from the environment, format the storage once (the
# cluster id is kept beside it), then exec the broker.
#   KAFKA_NODE_ID (1)            KAFKA_ADVERTISED_HOST (hostname)
#   KAFKA_PORT (9092)            KAFKA_CONTROLLER_PORT (9093)
#   KAFKA_PARTITIONS (8)         KAFKA_RETENTION_HOURS (168)
#   KAFKA_HEAP (1g)              KAFKA_CLUSTER_ID (generated on first start)
#   KAFKA_DATA_DIR (/var/lib/kafka)  KAFKA_LIBS (/opt/kafka/libs)
set -euo pipefail

data=${KAFKA_DATA_DIR:-/var/lib/kafka}
libs="${KAFKA_LIBS:-/opt/kafka/libs}/*"
node_id=${KAFKA_NODE_ID:-1}
host=${KAFKA_ADVERTISED_HOST:-$(hostname)}
port=${KAFKA_PORT:-9092}
controller_port=${KAFKA_CONTROLLER_PORT:-9093}
config=$data/server.properties
log4j=$data/log4j2.properties
mkdir -p "$data"

cat >"$config" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$node_id@$host:$controller_port
listeners=PLAINTEXT://0.0.0.0:$port,CONTROLLER://0.0.0.0:$controller_port
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$data/logs
auto.create.topics.enable=false
num.partitions=${KAFKA_PARTITIONS:-8}
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=${KAFKA_RETENTION_HOURS:-168}
PROPS

cat >"$log4j" <<LOG4J
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = warn
LOG4J

java_opts=(-Dlog4j2.configurationFile="$log4j" -Djava.awt.headless=true)
if [ ! -s "$data/cluster.id" ]; then
  # The tool logs to stdout too: the id is its last line.
  generated=$(java "${java_opts[@]}" -cp "$libs" kafka.tools.StorageTool random-uuid | tail -n 1)
  echo "${KAFKA_CLUSTER_ID:-$generated}" >"$data/cluster.id"
fi
java "${java_opts[@]}" -cp "$libs" kafka.tools.StorageTool format --ignore-formatted \
  -t "$(cat "$data/cluster.id")" -c "$config"

heap=${KAFKA_HEAP:-1g}
exec java "${java_opts[@]}" "-Xmx$heap" "-Xms$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
  -XX:+ExitOnOutOfMemoryError -cp "$libs" kafka.Kafka "$config"

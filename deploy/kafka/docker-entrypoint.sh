#!/usr/bin/env bash
# Start one KRaft node (broker + controller): write server.properties and a
# console log4j2 config from the environment, format the storage once (the
# cluster id is kept beside it), then exec the broker.
#   KAFKA_NODE_ID (1)            KAFKA_ADVERTISED_HOST (hostname)
#   KAFKA_PORT (9092)            KAFKA_CONTROLLER_PORT (9093)
#   KAFKA_LOCAL_PORT (9094)      KAFKA_PARTITIONS (8)
#   KAFKA_RETENTION_HOURS (168)  KAFKA_HEAP (1g)
#   KAFKA_CLUSTER_ID (generated on first start)
#   KAFKA_DATA_DIR (/var/lib/kafka)  KAFKA_LIBS (/opt/kafka/libs)
#   KAFKA_ADMIN_USER (admin)     KAFKA_ADMIN_PASSWORD (required, see below)
#   KAFKA_ALLOW_PLAINTEXT (unset: refuse to start without KAFKA_ADMIN_PASSWORD)
#
# Clients authenticate with SASL/SCRAM-SHA-512 on KAFKA_PORT and are authorised
# by ACLs (StandardAuthorizer; no ACL, no access). KAFKA_ADMIN_USER is a super
# user; its SCRAM credential is (re)set from KAFKA_ADMIN_PASSWORD on every
# start, so a changed password or a volume formatted before SCRAM just works,
# and the file $KAFKA_DATA_DIR/admin.ready says it is done (the health check
# waits for it). The other users and their ACLs are created by
# deploy/kafka/kafka_access.py (compose: the init service). The KRaft controller
# listener and the broker's own listener (KAFKA_LOCAL_PORT) are plaintext but
# bound to 127.0.0.1: only this container reaches them, and their anonymous
# principal is a super user (KRaft requires it of the controller listener). No
# TLS: this is the one-host image, on a compose network nothing outside the host
# joins (deploy/README.md, Security). KAFKA_ALLOW_PLAINTEXT=true, without an
# admin password, keeps the old unauthenticated listener for a throwaway broker.
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
rm -f "$data/admin.ready"  # until this start has set the admin's credential

admin_user=${KAFKA_ADMIN_USER:-admin}
admin_password=${KAFKA_ADMIN_PASSWORD:-}
local_port=${KAFKA_LOCAL_PORT:-9094}
if [ -n "$admin_password" ]; then
  # Goes into a ConfigCommand value unquoted: keep it simple.
  for value in "$admin_user" "$admin_password"; do
    if [[ ! $value =~ ^[A-Za-z0-9_-]+$ ]]; then
      echo "KAFKA_ADMIN_USER/KAFKA_ADMIN_PASSWORD: use letters, digits, '_' and '-' only" >&2
      exit 64
    fi
  done
  if [ ${#admin_password} -lt 24 ]; then
    echo "KAFKA_ADMIN_PASSWORD: at least 24 characters" >&2
    exit 64
  fi
  security=$(cat <<SASL
listeners=CLIENT://0.0.0.0:$port,LOCAL://127.0.0.1:$local_port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=CLIENT://$host:$port,LOCAL://127.0.0.1:$local_port
controller.quorum.voters=$node_id@127.0.0.1:$controller_port
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,LOCAL:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=LOCAL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$admin_user;User:ANONYMOUS
SASL
)
elif [ "${KAFKA_ALLOW_PLAINTEXT:-}" = "true" ]; then
  security=$(cat <<PLAIN
listeners=PLAINTEXT://0.0.0.0:$port,CONTROLLER://0.0.0.0:$controller_port
advertised.listeners=PLAINTEXT://$host:$port
controller.quorum.voters=$node_id@$host:$controller_port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
PLAIN
)
else
  echo "KAFKA_ADMIN_PASSWORD is not set: refusing to start an open broker" \
    "(KAFKA_ALLOW_PLAINTEXT=true for a throwaway one)" >&2
  exit 64
fi

umask 077
cat >"$config" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.listener.names=CONTROLLER
$security
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

if [ -n "$admin_password" ]; then
  # Once the broker answers on its loopback listener, (re)set the admin's SCRAM
  # credential (the password is on this container's process list for that
  # moment, as it is in its environment). If it cannot be set, stop the broker:
  # the container restarts and tries again.
  broker_pid=$$
  (
    for _ in $(seq 1 90); do
      sleep 2
      if java "${java_opts[@]}" -Xmx128m -cp "$libs" kafka.admin.ConfigCommand \
        --bootstrap-server "127.0.0.1:$local_port" --alter --entity-type users \
        --entity-name "$admin_user" \
        --add-config "SCRAM-SHA-512=[password=$admin_password]" >/dev/null 2>&1; then
        touch "$data/admin.ready"
        echo "SCRAM-SHA-512 credential of $admin_user set"
        exit 0
      fi
    done
    echo "could not set the SCRAM credential of $admin_user: stopping the broker" >&2
    kill "$broker_pid"
  ) &
fi

heap=${KAFKA_HEAP:-1g}
exec java "${java_opts[@]}" "-Xmx$heap" "-Xms$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
  -XX:+ExitOnOutOfMemoryError -cp "$libs" kafka.Kafka "$config"

-- gridhub bench: wrk POSTs request bodies cycled from a file, one JSON body a line.
-- usage: wrk ... -s wrk_post.lua URL -- BODIES_FILE TOKEN CONTENT_TYPE
-- At the end it prints one JSON line (prefixed "gridhub-wrk ") with the counts.

local bodies = {}
local count = 0
local next_body = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      bodies[#bodies + 1] = line
    end
  end
  count = #bodies
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = args[3] or "application/json"
  -- threads start at different bodies
  next_body = math.random(count) - 1
end

function request()
  next_body = next_body % count + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'gridhub-wrk {"requests": %d, "duration_us": %d, "bytes": %d, "non_2xx": %d, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "timeouts": %d, ' ..
    '"latency_p50_us": %d, "latency_p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.status,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end

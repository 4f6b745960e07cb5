-- gridhub bench: wrk POSTs the lines of a file in turn, each "TOKEN<TAB>BODY"
-- (the body one line of JSON), with "Authorization: Bearer TOKEN".
-- usage: wrk ... -s wrk_post.lua URL -- LINES_FILE CONTENT_TYPE
-- At the end it prints one line, "gridhub-wrk " and a JSON object of the counts.

local requests = {}
local count = 0
local next_line = 0

function init(args)
  local content_type = args[2] or "application/json"
  -- every request is formatted once, here: request() only hands them out
  for line in io.lines(args[1]) do
    local tab = string.find(line, "\t", 1, true)
    if tab then
      local headers = {
        ["Authorization"] = "Bearer " .. string.sub(line, 1, tab - 1),
        ["Content-Type"] = content_type,
      }
      requests[#requests + 1] = wrk.format("POST", nil, headers, string.sub(line, tab + 1))
    end
  end
  count = #requests
  -- each thread starts somewhere else in the file
  next_line = math.random(count) - 1
end

function request()
  next_line = next_line % count + 1
  return requests[next_line]
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

-- Shared by the wrk scripts: counts non-2xx answers per thread and prints one JSON line at the end.
-- Each script sets `setup`, `init`, `request`; this file provides `response` and `done`.
-- A script may set `response = nil` after loading this file: wrk then neither parses nor copies
-- the answers (cheaper), and the report counts the answers with a status >= 400 as non-2xx.

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("thread_id", next_id)
  table.insert(threads, thread)
end

statuses = {}
answered = 0
max_requests = 0 -- 0: no cap, the run stops at wrk's --duration

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status > 299 then
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
  if max_requests > 0 and answered >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local non2xx, by_status = 0, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      non2xx = non2xx + n
      by_status[status] = (by_status[status] or 0) + n
    end
  end
  if response == nil then -- a script that set it to nil: wrk's own count of statuses >= 400
    non2xx = summary.errors.status
    if non2xx > 0 then
      by_status[">=400"] = non2xx
    end
  end
  local parts = {}
  for status, n in pairs(by_status) do
    table.insert(parts, string.format('"%s": %d', status, n))
  end
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d, "mean_us": %.1f, "non2xx": %d, "non2xx_by_status": {%s}, '
      .. '"socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, non2xx, table.concat(parts, ", "),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end

-- One operation, repeated: GET a path, or POST a JSON body with a unique Idempotency-Key.
-- Arguments (after `--`): api_key method path body_or_dash run_nonce max_requests
-- max_requests caps the requests of each thread (0: run for wrk's --duration).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local method, path, body, headers, key_prefix
local counter = 0

function init(args)
  method, path, body = args[2], args[3], args[4]
  headers = { ["Authorization"] = "Bearer " .. args[1] }
  if method == "POST" then
    headers["Content-Type"] = "application/json"
  end
  key_prefix = args[5] .. "-" .. wrk.thread:get("thread_id") .. "-"
  max_requests = tonumber(args[6])
end

function request()
  counter = counter + 1
  if method == "POST" then
    headers["Idempotency-Key"] = key_prefix .. counter
    return wrk.format(method, path, headers, body)
  end
  return wrk.format(method, path, headers)
end

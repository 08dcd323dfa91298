-- The mixed workload: in every 10 requests, 4 POST /v1/entries (each with a unique
-- Idempotency-Key), 3 GET /v1/accounts/{id}/balance and 3 GET /v1/entries?ledger_id=..&limit=..
-- Arguments (after `--`): api_key ledger_id debit_account credit_account run_nonce limit [kinds]
-- kinds (optional, bench/p99_probe.py): a comma-separated cycle of its own, e.g. "post" or "list"
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local CYCLE = { "post", "balance", "list", "post", "balance", "list", "post", "balance", "list", "post" }
local post_body, balance_path, list_path, headers, key_prefix
local counter = 0

function init(args)
  local api_key, ledger, debit, credit, nonce = args[1], args[2], args[3], args[4], args[5]
  local limit = args[6] or "50"
  if args[7] then
    CYCLE = {}
    for op in string.gmatch(args[7], "[^,]+") do table.insert(CYCLE, op) end
  end
  post_body = string.format(
    '{"ledger_id": "%s", "lines": [{"account_id": "%s", "direction": "debit", "amount": 100}, '
      .. '{"account_id": "%s", "direction": "credit", "amount": 100}]}', ledger, debit, credit)
  balance_path = "/v1/accounts/" .. debit .. "/balance"
  list_path = "/v1/entries?ledger_id=" .. ledger .. "&limit=" .. limit
  headers = { ["Authorization"] = "Bearer " .. api_key }
  key_prefix = nonce .. "-" .. wrk.thread:get("thread_id") .. "-"
  -- Start each thread at another point of the cycle so the mix holds at every instant.
  counter = wrk.thread:get("thread_id") * 3
end

function request()
  counter = counter + 1
  local op = CYCLE[(counter % #CYCLE) + 1]
  if op == "post" then
    return wrk.format("POST", "/v1/entries", {
      ["Authorization"] = headers["Authorization"],
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = key_prefix .. counter,
    }, post_body)
  elseif op == "balance" then
    return wrk.format("GET", balance_path, headers)
  end
  return wrk.format("GET", list_path, headers)
end

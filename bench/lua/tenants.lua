-- The mixed workload of mixed.lua (in every 10 requests: 4 POST /v1/entries with a unique
-- Idempotency-Key, 3 GET balance, 3 GET a page of entries) spread over many tenants: each
-- request goes to a tenant drawn at random, with that tenant's API key and ids.
-- Arguments (after `--`): tenants_file run_nonce limit
-- tenants_file: one tenant a line, "api_key ledger_id debit_account credit_account".
-- Every request is formatted once per tenant in init (a POST is split around its key), so
-- wrk spends as little CPU as it can per request: it shares the cores with the servers.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
-- No Lua callback per answer: wrk counts the statuses >= 400 itself (report.lua), and skips
-- handing every body (a page is about 58 KB) to Lua.
response = nil

local CYCLE = { "post", "balance", "list", "post", "balance", "list", "post", "balance", "list", "post" }
local KEY_MARK = "@IDEMPOTENCY_KEY@"
local tenants = {}
local key_prefix
local counter = 0

local function prepared(api_key, ledger, debit, credit, limit)
  local auth = "Bearer " .. api_key
  local body = string.format(
    '{"ledger_id": "%s", "lines": [{"account_id": "%s", "direction": "debit", "amount": 100}, '
      .. '{"account_id": "%s", "direction": "credit", "amount": 100}]}', ledger, debit, credit)
  local post = wrk.format("POST", "/v1/entries", {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = KEY_MARK,
  }, body)
  local at = string.find(post, KEY_MARK, 1, true)
  return {
    post_head = string.sub(post, 1, at - 1),
    post_tail = string.sub(post, at + #KEY_MARK),
    balance = wrk.format("GET", "/v1/accounts/" .. debit .. "/balance", { ["Authorization"] = auth }),
    list = wrk.format("GET", "/v1/entries?ledger_id=" .. ledger .. "&limit=" .. limit,
      { ["Authorization"] = auth }),
  }
end

function init(args)
  local path, nonce, limit = args[1], args[2], args[3] or "50"
  for line in io.lines(path) do
    local api_key, ledger, debit, credit = string.match(line, "^(%S+)%s+(%S+)%s+(%S+)%s+(%S+)")
    if api_key then
      table.insert(tenants, prepared(api_key, ledger, debit, credit, limit))
    end
  end
  if #tenants == 0 then
    error("no tenant in " .. path)
  end
  local id = wrk.thread:get("thread_id")
  key_prefix = nonce .. "-" .. id .. "-"
  math.randomseed(id)
  counter = id * 3 -- each thread starts at another point of the cycle
end

function request()
  counter = counter + 1
  local tenant = tenants[math.random(#tenants)]
  local op = CYCLE[(counter % #CYCLE) + 1]
  if op == "post" then
    return tenant.post_head .. key_prefix .. counter .. tenant.post_tail
  end
  return tenant[op]
end

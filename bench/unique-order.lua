-- wrk request generator for bench/mock-vs-bare-wrk.sh: POST /api/v1/orders with a valid
-- EIP-1271 order body whose sellAmount is unique per request (per thread, per phase), so
-- the mock stores every one instead of answering DuplicatedOrder.
-- PHASE (environment) separates the phases of one run against the same mock.
local phase = tonumber(os.getenv("PHASE")) or 0
local sent = 0
local before = '{"sellToken":"0xfff9976782d46cc05630d1f6ebab18b2324d6b14",'
  .. '"buyToken":"0x0625afb445c3b6b7b929342a04a22599fd5dbb59",'
  .. '"receiver":"0x90f79bf6eb2c4f870365e785982e1f101e93b906","sellAmount":"'
local after = '","buyAmount":"1","validTo":1795727400,"feeAmount":"0","kind":"sell",'
  .. '"partiallyFillable":false,"sellTokenBalance":"erc20","buyTokenBalance":"erc20",'
  .. '"signingScheme":"eip1271","signature":"0xba3cb449bd2b4adddbc894d8697f5170800eadec",'
  .. '"from":"0xba3cb449bd2b4adddbc894d8697f5170800eadec",'
  .. '"appData":"0xb48d38f93eaa084033fc5970bf96e559c33c4cdc07d889ab00b4d63f9590739d"}'
local thread_id = 0
local created = 0
function setup(thread)
  created = created + 1
  thread:set("thread_id", created)
end
function request()
  sent = sent + 1
  -- A decimal string: LuaJIT would print a number this large in float notation.
  local amount = string.format("%d%03d%012d", phase + 1, thread_id, sent)
  return wrk.format("POST", "/api/v1/orders", {["Content-Type"] = "application/json"},
    before .. amount .. after)
end

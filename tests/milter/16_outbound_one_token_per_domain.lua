-- Outbound to two domains (and a second recipient at one of them): one
-- MTEP-Token per recipient domain, "<token>; domain=<domain>", each
-- valid for its own domain only.
dofile(HELPERS)
T.run("outbound mail to two domains gets one token per domain", function()
  local conn = T.connect("127.0.0.1")
  T.mail(conn, "Q16TWO", "<dave@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  for _, rcpt in ipairs({"<erin@gamma.test>", "<fred@Delta.Test>", "<gail@gamma.test>"}) do
    T.rcpt(conn, rcpt)
    T.expect_reply(conn, SMFIR_CONTINUE, "RCPT " .. rcpt)
  end
  T.header(conn, "Subject", "hello")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  local want = {"gamma.test", "delta.test"}
  local verify = MTEPCTL .. " -c " .. MILTER_CONF .. " token verify --sender dave@beta.test --recipient-domain "
  local seen = {}
  for i = 0, 1 do
    local value = mt.getheader(conn, "MTEP-Token", i)
    if value == nil then error("no MTEP-Token #" .. i, 0) end
    local token, named = value:match("^([A-Za-z0-9_-]+); domain=(.+)$")
    if token == nil then error("MTEP-Token is not '<token>; domain=<domain>': " .. value, 0) end
    if seen[named] ~= nil then error("two tokens for " .. named, 0) end
    seen[named] = token
  end
  for i, domain in ipairs(want) do
    local token = seen[domain]
    if token == nil then error("no MTEP-Token for " .. domain, 0) end
    if not os.execute(verify .. domain .. " " .. token .. " >/dev/null") then
      error("the token for " .. domain .. " does not verify for it", 0)
    end
    local other = want[3 - i]
    if os.execute(verify .. other .. " " .. token .. " >/dev/null 2>&1") then
      error("the token for " .. domain .. " also verifies for " .. other, 0)
    end
  end
  if mt.getheader(conn, "MTEP-Token", 2) ~= nil then error("more than two MTEP-Token headers", 0) end
  mt.disconnect(conn)
end)

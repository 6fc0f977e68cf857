-- Outbound (client 127.0.0.1 is in internal_networks): the two MTEP-Token
-- headers already present are deleted, highest index first, and a fresh
-- token bound to the envelope sender and the recipient's domain is added
-- as "<token>; domain=gamma.test"; mtepctl accepts it for dave@beta.test
-- and gamma.test, not for anyone else nor another domain. Nothing is
-- checked or rejected.
dofile(HELPERS)
T.run("outbound mail gets a new token and loses the old ones", function()
  local conn = T.connect("127.0.0.1")
  T.mail(conn, "Q10OUT", "<dave@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<erin@gamma.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "MTEP-Token", "c3RhbGUtdG9rZW4")
  T.header(conn, "Subject", "hello")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if not mt.eom_check(conn, MT_HDRDELETE, "MTEP-Token", 2) then error("MTEP-Token #2 not deleted", 0) end
  if not mt.eom_check(conn, MT_HDRDELETE, "MTEP-Token", 1) then error("MTEP-Token #1 not deleted", 0) end
  local value = mt.getheader(conn, "MTEP-Token", 0)
  if value == nil then error("no MTEP-Token added", 0) end
  local token = value:match("^([A-Za-z0-9_-]+); domain=gamma%.test$")
  if token == nil or #token ~= 72 then error("added MTEP-Token is not '<token>; domain=gamma.test': " .. value, 0) end
  if token == TOKEN_ALICE then error("the old token was kept", 0) end
  if mt.getheader(conn, "MTEP-Token", 1) ~= nil then error("more than one MTEP-Token added", 0) end
  if mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results") then error("outbound mail got Authentication-Results", 0) end
  local verify = MTEPCTL .. " -c " .. MILTER_CONF .. " token verify --sender "
  if not os.execute(verify .. "dave@beta.test --recipient-domain gamma.test " .. token .. " >/dev/null") then
    error("mtepctl does not accept the added token for dave@beta.test and gamma.test", 0)
  end
  if os.execute(verify .. "mallory@beta.test --recipient-domain gamma.test " .. token .. " >/dev/null 2>&1") then
    error("the added token is valid for another sender", 0)
  end
  if os.execute(verify .. "dave@beta.test --recipient-domain beta.test " .. token .. " >/dev/null 2>&1") then
    error("the added token is valid for another recipient domain", 0)
  end
  mt.disconnect(conn)
end)

-- Replay: a gamma.test recipient of alice's mail holds the token minted
-- for gamma.test and sends it to beta.test (with "; domain=beta.test", or
-- bare). beta's milter asks alpha with the recipient at beta.test; alpha
-- answers D5.7.8 (recipient-mismatch): 550 5.7.25. The token minted for
-- beta.test, in the same message, passes.
dofile(HELPERS)
local function send(qid, value, extra)
  local conn = T.connect("192.0.2.1")
  T.mail(conn, qid, "<alice@alpha.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "MTEP-Token", value)
  if extra ~= nil then T.header(conn, "MTEP-Token", extra) end
  T.eom(conn)
  return conn
end
T.run("a token minted for gamma.test is refused at beta.test", function()
  for i, value in ipairs({TOKEN_ALICE_GAMMA .. "; domain=beta.test", TOKEN_ALICE_GAMMA}) do
    local qid = "Q17REPLAY" .. i
    local conn = send(qid, value)
    T.expect_eom_reply(conn, qid, "550", "5.7.25")
    if not T.logged(qid .. ": mtep: action=reject reason=refused") then
      error("no action=reject reason=refused log line for " .. qid, 0)
    end
    mt.disconnect(conn)
  end
end)
T.run("the same message's token for beta.test passes there", function()
  local conn = send("Q17OWN", TOKEN_ALICE_GAMMA .. "; domain=gamma.test", TOKEN_ALICE .. "; domain=beta.test")
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)

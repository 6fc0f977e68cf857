-- Inbound, sender's server vouches (K): delivered, Authentication-Results
-- "mtep=pass" inserted at the top, nothing else changed.
dofile(HELPERS)
T.run("vouched token is accepted with mtep=pass", function()
  local conn = T.connect("192.0.2.1")
  T.mail(conn, "Q01PASS", "<alice@alpha.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "From", "Alice <alice@alpha.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  if mt.eom_check(conn, MT_HDRDELETE) or mt.eom_check(conn, MT_HDRADD) then
    error("headers deleted or added besides Authentication-Results", 0)
  end
  if not T.logged("Q01PASS: mtep: action=pass") then error("no action=pass log line", 0) end
  mt.disconnect(conn)
end)

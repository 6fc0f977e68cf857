-- Recipients under different policies are not mixed: the first accepted
-- recipient (beta.test, checked) fixes the message's policy; gamma.test
-- (unchecked) gets 452 4.5.3 so the client sends it separately; another
-- beta.test recipient is fine.
dofile(HELPERS)
T.run("a recipient under another policy gets 452 4.5.3", function()
  local conn = T.connect("192.0.2.13")
  T.mail(conn, "Q13MIXED", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT bob@beta.test")
  T.rcpt(conn, "<erin@gamma.test>")
  T.expect_rcpt_reply(conn, "Q13MIXED", "452", "4.5.3")
  T.rcpt(conn, "<carl@beta.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT carl@beta.test")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)

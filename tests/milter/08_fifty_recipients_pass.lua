-- 50 recipients in the checked domain: each RCPT continues, and one
-- verdict at the end covers them all.
dofile(HELPERS)
T.run("50 recipients under one policy get one verdict", function()
  local conn = T.connect("192.0.2.8")
  T.mail(conn, "Q08FIFTY", "<alice@alpha.test>")
  for i = 1, 50 do
    T.rcpt(conn, string.format("<user%02d@beta.test>", i))
    T.expect_reply(conn, SMFIR_CONTINUE, "RCPT " .. i)
  end
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)

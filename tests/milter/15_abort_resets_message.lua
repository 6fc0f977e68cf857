-- One connection, two transactions: the first (with a good token) is
-- aborted (RSET), the second has no token and must be judged on its own:
-- 550 5.7.25. Then a third, with the token again, passes.
dofile(HELPERS)
T.run("abort starts a fresh message on the same connection", function()
  local conn = T.connect("192.0.2.15")
  T.mail(conn, "Q15FIRST", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.check(mt.abort(conn), "abort")

  T.mail(conn, "Q15SECOND", "<alice@alpha.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "second MAIL")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "Subject", "no token this time")
  T.eom(conn)
  T.expect_eom_reply(conn, "Q15SECOND", "550", "5.7.25")

  T.mail(conn, "Q15THIRD", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "third end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test")
  mt.disconnect(conn)
end)

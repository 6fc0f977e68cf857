-- both.test requires a vouched MTEP-Token and a stamp: with both, one
-- Authentication-Results carries both results. Without the token the
-- message is refused for the token (5.7.25) and its stamp is not spent:
-- sent again with the token, the same stamp passes.
dofile(HELPERS)
T.run("mtep=pass and x-hashcash=pass in one header; a token refusal spends no stamp", function()
  local stamp = T.hashcash_mint(12, "hank25@both.test")
  local conn = T.connect("192.0.2.25")
  T.mail(conn, "Q25NOTOKEN", "<alice@alpha.test>")
  T.rcpt(conn, "<hank25@both.test>")
  T.header(conn, "X-Hashcash", stamp)
  T.eom(conn)
  T.expect_eom_reply(conn, "Q25NOTOKEN", "550", "5.7.25")
  mt.disconnect(conn)

  conn = T.connect("192.0.2.25")
  T.mail(conn, "Q25BOTH", "<alice@alpha.test>")
  T.rcpt(conn, "<hank25@both.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE_BOTH .. "; domain=both.test")
  T.header(conn, "X-Hashcash", stamp)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; mtep=pass smtp.mailfrom=alice@alpha.test; x-hashcash=pass")
  mt.disconnect(conn)
end)

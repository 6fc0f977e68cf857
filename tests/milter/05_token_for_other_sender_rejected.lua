-- A genuine alpha.test token, but bound to bob@alpha.test, on mail from
-- alice@alpha.test: the server says D -> 550 5.7.25.
dofile(HELPERS)
T.run("token bound to another sender is rejected with 550 5.7.25", function()
  local conn = T.connect("192.0.2.5")
  T.mail(conn, "Q05OTHER", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_BOB)
  T.eom(conn)
  T.expect_eom_reply(conn, "Q05OTHER", "550", "5.7.25")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)
end)

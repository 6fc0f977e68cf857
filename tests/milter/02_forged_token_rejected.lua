-- Inbound with a token alpha.test never issued (a real one with one
-- character changed): its server says D -> 550 5.7.25, no header changes.
dofile(HELPERS)
T.run("forged token is rejected with 550 5.7.25", function()
  local conn = T.connect("192.0.2.2")
  T.mail(conn, "Q02FORGED", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_FORGED)
  T.eom(conn)
  T.expect_eom_reply(conn, "Q02FORGED", "550", "5.7.25")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)
end)

-- Inbound from down.test, whose MTEP server (a closed port) cannot be
-- reached: mtep_unavailable defaults to tempfail -> 451 4.7.25.
dofile(HELPERS)
T.run("unreachable sender server tempfails with 451 4.7.25", function()
  local conn = T.connect("192.0.2.3")
  T.mail(conn, "Q03DOWN", "<carol@down.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", TOKEN_ALICE)
  T.eom(conn)
  T.expect_eom_reply(conn, "Q03DOWN", "451", "4.7.25")
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)
end)

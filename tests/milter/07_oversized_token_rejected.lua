-- An MTEP-Token header of 1000 bytes (miltertest's own buffer holds no
-- more; 07_oversized_token_raw.sh sends 2000 and 60000 bytes): malformed,
-- 550 5.7.25 without asking the sender's server.
dofile(HELPERS)
T.run("oversized MTEP-Token header is rejected with 550 5.7.25", function()
  local conn = T.connect("192.0.2.7")
  T.mail(conn, "Q07BIG", "<alice@alpha.test>")
  T.rcpt(conn, "<bob@beta.test>")
  T.header(conn, "MTEP-Token", string.rep("A", 1000))
  T.eom(conn)
  T.expect_eom_reply(conn, "Q07BIG", "550", "5.7.25")
  T.expect_no_header_changes(conn)
  if T.logged("Q07BIG: mtep domain=alpha.test") then
    error("the sender's server was asked about a malformed token", 0)
  end
  mt.disconnect(conn)
end)

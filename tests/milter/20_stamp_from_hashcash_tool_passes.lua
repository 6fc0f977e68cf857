-- Inbound to stamps.test (require_stamp, 12 bits), no MTEP policy: a stamp
-- minted by "hashcash -m" for the recipient is accepted and spent, and
-- Authentication-Results "x-hashcash=pass" is inserted at the top.
dofile(HELPERS)
T.run("a stamp from the hashcash tool passes with x-hashcash=pass", function()
  local stamp = T.hashcash_mint(12, "carol20@stamps.test")
  local conn = T.connect("192.0.2.20")
  T.mail(conn, "Q20STAMP", "<zoe@elsewhere.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  T.rcpt(conn, "<carol20@stamps.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", "with a stamp")
  T.header(conn, "X-Hashcash", stamp)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; x-hashcash=pass")
  if mt.eom_check(conn, MT_HDRDELETE) or mt.eom_check(conn, MT_HDRADD) then
    error("headers deleted or added besides Authentication-Results", 0)
  end
  if not T.logged("Q20STAMP: mtep: action=pass reason=stamps-valid", "x-hashcash=pass") then
    error("no action=pass reason=stamps-valid log line", 0)
  end
  mt.disconnect(conn)
end)

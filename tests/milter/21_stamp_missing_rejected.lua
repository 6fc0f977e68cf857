-- Inbound to stamps.test without any stamp: 550 5.7.1 naming the recipient,
-- the verdict and how to mint one with the hashcash tool.
dofile(HELPERS)
T.run("mail without a stamp is refused with 550 5.7.1", function()
  local conn = T.connect("192.0.2.21")
  T.mail(conn, "Q21NOSTAMP", "<zoe@elsewhere.test>")
  T.rcpt(conn, "<dave21@stamps.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", "no stamp")
  T.eom(conn)
  T.expect_eom_reply(conn, "Q21NOSTAMP", "550", "5.7.1")
  local text = T.reply_text("Q21NOSTAMP")
  for _, want in ipairs({ "dave21@stamps.test (malformed", "mint one with: hashcash -m -b 12 -r dave21@stamps.test" }) do
    if not text:find(want, 1, true) then error("reply \"" .. text .. "\" lacks \"" .. want .. "\"", 0) end
  end
  T.expect_no_header_changes(conn)
  mt.disconnect(conn)
end)

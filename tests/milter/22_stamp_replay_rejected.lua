-- A stamp reused by another message: the first delivery spends the stamp
-- (in the milter's store), another message with it (a different Subject)
-- is refused with 550 5.7.1 "spent". A stamp made for another address is
-- refused too ("wrong-resource"). (The same message again passes: see
-- 27_stamp_retry_of_same_message_passes.)
dofile(HELPERS)

local function send(qid, rcpt, stamp, subject)
  local conn = T.connect("192.0.2.22")
  T.mail(conn, qid, "<zoe@elsewhere.test>")
  T.rcpt(conn, rcpt)
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  T.header(conn, "Subject", subject or "first")
  T.header(conn, "X-Hashcash", stamp)
  T.eom(conn)
  return conn
end

T.run("a stamp reused by another message is refused as spent", function()
  local stamp = T.hashcash_mint(12, "erin22@stamps.test")
  local conn = send("Q22FIRST", "<erin22@stamps.test>", stamp)
  T.expect_reply(conn, SMFIR_CONTINUE, "first delivery")
  T.expect_auth_results(conn, "mx.beta.test; x-hashcash=pass")
  mt.disconnect(conn)

  conn = send("Q22REPLAY", "<erin22@stamps.test>", stamp, "another message")
  T.expect_eom_reply(conn, "Q22REPLAY", "550", "5.7.1")
  local text = T.reply_text("Q22REPLAY")
  if not text:find("erin22@stamps.test (spent", 1, true) then
    error("replay reply \"" .. text .. "\" does not say spent", 0)
  end
  mt.disconnect(conn)

  conn = send("Q22OTHER", "<frank22@stamps.test>", T.hashcash_mint(12, "erin22@stamps.test"))
  T.expect_eom_reply(conn, "Q22OTHER", "550", "5.7.1")
  if not T.reply_text("Q22OTHER"):find("frank22@stamps.test (wrong-resource", 1, true) then
    error("reply \"" .. T.reply_text("Q22OTHER") .. "\" does not say wrong-resource", 0)
  end
  mt.disconnect(conn)
end)

-- A retry of the same message passes: the stamp is spent with the
-- message's identity (envelope sender, every header but trace ones, the
-- body). The first delivery spends it; the same message again, with a new
-- Received line and queue id as after a failure behind the milter, passes;
-- a different message (another body) with that stamp is refused as spent.
dofile(HELPERS)

local function send(qid, stamp, body)
  local conn = T.connect("192.0.2.27")
  T.mail(conn, qid, "<zoe@elsewhere.test>")
  T.rcpt(conn, "<erin27@stamps.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "RCPT")
  local reply = T.send_message(conn,
    "Received: from client.example by mx.beta.test with ESMTP id " .. qid .. "\n" ..
    "From: Zoe <zoe@elsewhere.test>\nSubject: retry\nMessage-ID: <27@elsewhere.test>\n" ..
    "X-Hashcash: " .. stamp .. "\n\n" .. body)
  if reply ~= SMFIR_CONTINUE then
    error("the body was not taken (the identity needs it)", 0)
  end
  T.eom(conn)
  return conn
end

T.run("the same message passes again, another one with its stamp does not", function()
  local stamp = T.hashcash_mint(12, "erin27@stamps.test")
  local conn = send("Q27FIRST", stamp, "Hello Erin\n")
  T.expect_reply(conn, SMFIR_CONTINUE, "first delivery")
  T.expect_auth_results(conn, "mx.beta.test; x-hashcash=pass")
  mt.disconnect(conn)

  conn = send("Q27RETRY", stamp, "Hello Erin\n")
  T.expect_reply(conn, SMFIR_CONTINUE, "the retry of the same message")
  T.expect_auth_results(conn, "mx.beta.test; x-hashcash=pass")
  mt.disconnect(conn)

  conn = send("Q27OTHER", stamp, "Buy now\n")
  T.expect_eom_reply(conn, "Q27OTHER", "550", "5.7.1")
  if not T.reply_text("Q27OTHER"):find("erin27@stamps.test (spent", 1, true) then
    error("reply \"" .. T.reply_text("Q27OTHER") .. "\" does not say spent", 0)
  end
  mt.disconnect(conn)
end)

-- Outbound (127.0.0.1 is internal) from minter.test (mint_stamps =
-- "hashcash", 12 bits): one X-Hashcash per distinct recipient, each
-- accepted by "hashcash -c" for its recipient and for no other; the
-- user's own X-Hashcash header is kept; nothing is checked.
dofile(HELPERS)
T.run("outbound mail gets one stamp per recipient that hashcash -c accepts", function()
  local conn = T.connect("127.0.0.1")
  T.mail(conn, "Q24MINT", "<dave@minter.test>")
  T.expect_reply(conn, SMFIR_CONTINUE, "MAIL")
  local rcpts = { "bob24@gamma.test", "carol24@stamps.test" }
  for _, r in ipairs({ "<bob24@gamma.test>", "<carol24@stamps.test>", "<BOB24@gamma.test>" }) do
    T.rcpt(conn, r)
    T.expect_reply(conn, SMFIR_CONTINUE, "RCPT " .. r)
  end
  T.header(conn, "X-Hashcash", "1:20:261123:someone@else.test::users:own")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  if mt.eom_check(conn, MT_HDRDELETE, "X-Hashcash") then error("the user's X-Hashcash was deleted", 0) end
  if mt.getheader(conn, "X-Hashcash", 2) ~= nil then error("more than one stamp per distinct recipient", 0) end
  local seen = {}
  for i = 0, 1 do
    local stamp = mt.getheader(conn, "X-Hashcash", i)
    if stamp == nil then error("X-Hashcash #" .. i .. " not added", 0) end
    local resource = stamp:match("^1:12:%d+:([^:]+):")
    if resource == nil then error("added stamp is not a 12-bit v1 stamp: " .. stamp, 0) end
    if not T.hashcash_accepts(12, resource, stamp) then
      error("hashcash -c does not accept " .. stamp .. " for " .. resource, 0)
    end
    if T.hashcash_accepts(12, "mallory@gamma.test", stamp) then
      error("hashcash -c accepts " .. stamp .. " for another address", 0)
    end
    seen[resource] = true
  end
  for _, r in ipairs(rcpts) do
    if not seen[r] then error("no stamp for " .. r, 0) end
  end
  if not T.logged("Q24MINT: mtep: action=stamps-added reason=minted", "stamps=2 algorithm=hashcash") then
    error("no action=stamps-added log line", 0)
  end
  mt.disconnect(conn)
end)

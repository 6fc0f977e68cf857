-- Outbound from argon.test (mint_stamps = "argon2id") adds an MTEP-Stamp
-- whose Argon2id hash, recomputed with the argon2 tool, has the leading
-- zero bits it claims; sent inbound to stamps.test it passes.
dofile(HELPERS)

local function leadingZeroBits(hex)
  local bits = 0
  for i = 1, #hex do
    local v = tonumber(hex:sub(i, i), 16)
    if v == 0 then
      bits = bits + 4
    else
      if v < 2 then return bits + 3 elseif v < 4 then return bits + 2 elseif v < 8 then return bits + 1 end
      return bits
    end
  end
  return bits
end

T.run("an Argon2id stamp minted outbound passes inbound", function()
  local conn = T.connect("127.0.0.1")
  T.mail(conn, "Q26MINT", "<ivy@argon.test>")
  T.rcpt(conn, "<jack26@stamps.test>")
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  local stamp = mt.getheader(conn, "MTEP-Stamp", 0)
  if stamp == nil then error("no MTEP-Stamp added", 0) end
  mt.disconnect(conn)
  local m, t, p, bits, resource, rand =
    stamp:match("^argon2id:1:m=(%d+),t=(%d+),p=(%d+):(%d+):%d+:([^:]+):[^:]*:([^:]+):[^:]+$")
  if m == nil then error("not an argon2id stamp: " .. stamp, 0) end
  if resource ~= "jack26@stamps.test" then error("stamp made for " .. resource, 0) end
  if T.shell("command -v argon2") ~= "" then
    local hex = T.shell("printf '%s' '" .. stamp .. "' | argon2 '" .. rand .. "' -id -t " .. t ..
      " -k " .. m .. " -p " .. p .. " -l 32 -r")
    if not hex:match("^%x+$") then error("argon2 printed " .. hex, 0) end
    if leadingZeroBits(hex) < tonumber(bits) then
      error("argon2 gives " .. hex .. ": fewer than " .. bits .. " leading zero bits", 0)
    end
  end

  conn = T.connect("192.0.2.26")
  T.mail(conn, "Q26CHECK", "<ivy@argon.test>")
  T.rcpt(conn, "<jack26@stamps.test>")
  T.header(conn, "MTEP-Stamp", stamp)
  T.eom(conn)
  T.expect_reply(conn, SMFIR_CONTINUE, "end of message")
  T.expect_auth_results(conn, "mx.beta.test; x-hashcash=pass")
  mt.disconnect(conn)
end)

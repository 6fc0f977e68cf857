-- Helpers for the mtep-milter miltertest cases; each case does dofile(HELPERS).
-- run.sh passes these globals with -D: MILTER (socket of the milter under
-- test), MILTER_LOG (its stderr, log level debug), MTEPCTL, MILTER_CONF,
-- and the tokens TOKEN_ALICE, TOKEN_BOB, TOKEN_REVOKED, TOKEN_FORGED,
-- TOKEN_JOERG (see run.sh).
--
-- miltertest hides Lua errors (exit 1, no message), so T.run wraps the
-- case in pcall and prints what failed.
--
-- Replies: miltertest shows a reply's text only to an exact
-- eom_check(MT_SMTPREPLY, code, esc, text). The milter logs every reply it
-- sets at debug level ("QID: mtep: reply=\"CODE ESC TEXT\""), just before
-- sending it; T.expect_eom_reply reads that line for the code and the
-- enhanced status code and then checks with MT_SMTPREPLY that exactly that
-- reply went over the wire.

T = {}

local function fail(msg)
  error(msg, 0)
end

function T.check(err, what)
  if err ~= nil then fail(what .. ": " .. tostring(err)) end
end

local function replyName(r)
  if r == nil then return "nil" end
  if r == 0 then return "none" end
  return "'" .. string.char(math.floor(r)) .. "'"
end

function T.expect_reply(conn, want, what)
  local got = mt.getreply(conn)
  if got ~= want then
    fail(string.format("%s: milter replied %s, want %s", what, replyName(got), replyName(want)))
  end
end

-- The client of each connection whose connect step the milter declined
-- (SMFIP_NOCONNECT): T.mail sends it as {client_addr} and {client_name},
-- as Postfix does with the macro list the milter asked for.
T.clients = {}

-- A new connection from client_ip (192.0.2.x: inbound, 127.0.0.1: internal).
-- When the milter declines the connect step, the address goes with each
-- MAIL instead; client_ip nil then sends no {client_addr} at all.
function T.connect(client_ip, socket)
  local conn = mt.connect(socket or MILTER, 40, 0.25)
  if conn == nil then fail("cannot connect to " .. (socket or MILTER)) end
  if mt.test_option(conn, SMFIP_NOCONNECT) then
    T.clients[conn] = { name = "client.example", addr = client_ip }
    return conn
  end
  T.check(mt.conninfo(conn, "client.example", client_ip), "conninfo")
  T.expect_reply(conn, SMFIR_CONTINUE, "connect")
  return conn
end

-- MAIL with queue id qid ({i}) and, optionally, the SASL login {auth_authen}.
function T.mail(conn, qid, sender, auth_authen)
  local macros = { "i", qid }
  if auth_authen ~= nil then
    macros[#macros + 1] = "{auth_authen}"
    macros[#macros + 1] = auth_authen
  end
  local client = T.clients[conn]
  if client ~= nil then
    macros[#macros + 1] = "{client_name}"
    macros[#macros + 1] = client.name
    if client.addr ~= nil then
      macros[#macros + 1] = "{client_addr}"
      macros[#macros + 1] = client.addr
    end
  end
  T.check(mt.macro(conn, SMFIC_MAIL, (table.unpack or unpack)(macros)), "macro")
  T.check(mt.mailfrom(conn, sender), "MAIL " .. sender)
end

function T.rcpt(conn, rcpt)
  T.check(mt.rcptto(conn, rcpt), "RCPT " .. rcpt)
end

function T.header(conn, name, value)
  T.check(mt.header(conn, name, value), "header " .. name)
end

function T.eom(conn)
  T.check(mt.eom(conn), "end of message")
end

-- The milter's log, whole.
function T.log()
  local f = io.open(MILTER_LOG, "rb")
  if f == nil then fail("cannot read the milter log " .. tostring(MILTER_LOG)) end
  local text = f:read("*a")
  f:close()
  return text
end

-- True when some log line contains every one of the plain strings given.
function T.logged(...)
  local needles = { ... }
  for line in T.log():gmatch("[^\n]+") do
    local all = true
    for _, n in ipairs(needles) do
      if not line:find(n, 1, true) then
        all = false
        break
      end
    end
    if all then return true end
  end
  return false
end

-- The last reply the milter set for queue id qid: code, esc, text.
function T.logged_reply(qid)
  local code, esc, text
  local prefix = " " .. qid .. ": mtep: reply=\""
  for line in T.log():gmatch("[^\n]+") do
    local at = line:find(prefix, 1, true)
    if at then
      local rest = line:sub(at + #prefix)
      local c, e, t = rest:match('^(%d%d%d) ([%d%.]+) (.*)"$')
      if c then code, esc, text = c, e, t end
    end
  end
  return code, esc, text
end

-- After mt.eom: the milter answered with an SMTP reply code..esc.
function T.expect_eom_reply(conn, qid, code, esc)
  T.expect_reply(conn, SMFIR_REPLYCODE, "end of message")
  local c, e, text = T.logged_reply(qid)
  if c ~= code or e ~= esc then
    fail(string.format("end of message: reply %s %s, want %s %s", tostring(c), tostring(e), code, esc))
  end
  if not mt.eom_check(conn, MT_SMTPREPLY, c, e, text) then
    fail("end of message: the reply on the wire is not \"" .. c .. " " .. e .. " " .. text .. "\"")
  end
end

-- After mt.rcptto: the milter answered with an SMTP reply code..esc.
function T.expect_rcpt_reply(conn, qid, code, esc)
  T.expect_reply(conn, SMFIR_REPLYCODE, "RCPT")
  local c, e = T.logged_reply(qid)
  if c ~= code or e ~= esc then
    fail(string.format("RCPT: reply %s %s, want %s %s", tostring(c), tostring(e), code, esc))
  end
end

-- No Authentication-Results or MTEP-Token header added or inserted.
function T.expect_no_header_changes(conn)
  for _, op in ipairs({ MT_HDRADD, MT_HDRINSERT, MT_HDRDELETE, MT_HDRCHANGE }) do
    if mt.eom_check(conn, op) then fail("a header was changed (operation " .. op .. ")") end
  end
end

-- Our Authentication-Results, inserted at the top.
function T.expect_auth_results(conn, value)
  if not mt.eom_check(conn, MT_HDRINSERT, "Authentication-Results", value, 0) then
    local got = mt.getheader(conn, "Authentication-Results", 0)
    fail("Authentication-Results \"" .. value .. "\" not inserted at the top (got " .. tostring(got) .. ")")
  end
end

-- Runs the case; prints PASS or FAIL and exits 1 on failure.
function T.run(name, body)
  local ok, err = pcall(body)
  if not ok then
    print("FAIL: " .. name .. ": " .. tostring(err))
    os.exit(1)
  end
  print("PASS: " .. name)
end

-- Proof of work (cases 20_ and up) with the hashcash tool (1.22).
-- The output of a shell command, trailing newlines removed.
function T.shell(cmd)
  local p = io.popen(cmd)
  if p == nil then fail("cannot run: " .. cmd) end
  local out = p:read("*a") or ""
  p:close()
  return (out:gsub("\n+$", ""))
end

-- A hashcash v1 stamp of `bits` bits for `resource`, as "hashcash -m" mints it.
function T.hashcash_mint(bits, resource)
  local stamp = T.shell("hashcash -m -b " .. bits .. " -r '" .. resource .. "' 2>/dev/null")
  if not stamp:match("^1:" .. bits .. ":%d+:") then fail("hashcash -m printed '" .. stamp .. "'") end
  return stamp
end

-- True when "hashcash -c" accepts `stamp` for `resource` at `bits` bits.
function T.hashcash_accepts(bits, resource, stamp)
  return os.execute("hashcash -cyq -b " .. bits .. " -r '" .. resource .. "' '" .. stamp .. "' >/dev/null 2>&1")
end

-- The reply text the milter logged for qid (see T.logged_reply).
function T.reply_text(qid)
  local _, _, text = T.logged_reply(qid)
  return text or ""
end

-- Sender signatures (cases 30_ and up).
-- Sends a whole RFC 5322 message (text) as an MTA hands it to a milter:
-- each header (name, then the value without the space after the colon,
-- continuation lines joined with LF, as Postfix does), then the body with
-- CRLF line ends in pieces of 1000 bytes, until the milter says SKIP.
-- Returns the reply to the last body piece (nil without a body).
function T.send_message(conn, text)
  text = text:gsub("\r\n", "\n")
  local head, body = text:match("^(.-)\n\n(.*)$")
  if head == nil then head, body = text, "" end
  local headers = {}
  for line in (head .. "\n"):gmatch("([^\n]*)\n") do
    if line:match("^[ \t]") and #headers > 0 then
      headers[#headers].value = headers[#headers].value .. "\n" .. line
    else
      local name, value = line:match("^([^:]+):[ \t]?(.*)$")
      if name then headers[#headers + 1] = { name = name, value = value } end
    end
  end
  for _, h in ipairs(headers) do T.header(conn, h.name, h.value) end
  body = body:gsub("\n", "\r\n")
  local reply = nil
  local pos = 1
  while pos <= #body do
    T.check(mt.bodystring(conn, body:sub(pos, pos + 999)), "body")
    reply = mt.getreply(conn)
    if reply == SMFIR_SKIP then break end
    pos = pos + 1000
  end
  return reply
end

-- The contents of a file, whole.
function T.read_file(path)
  local f = io.open(path, "rb")
  if f == nil then fail("cannot read " .. path) end
  local text = f:read("*a")
  f:close()
  return text
end

-- wrk script of tests/reliability/test_load.py: a realistic mix of API calls of one organisation.
--
--   wrk -t2 -c8 -d15s --latency -s load.lua http://127.0.0.1:PORT -- DATAFILE
--
-- DATAFILE (written by the test) holds one "name value" per line: the API key (`key`), the run's
-- nonce, the purpose and notice ids, and many `contact` and `message` ids. Each request picks a call
-- by weight; POSTs carry an Idempotency-Key of their own (one in ten event POSTs is sent again with
-- the same key and body, on purpose: its answer must be the stored one, 201 with
-- Idempotent-Replayed). The `response` callback counts statuses, the calls recognised in the answers
-- and the replays; `done` prints them, and the latency percentiles, as "relance-load ..." lines
-- that tests/reliability/loadrun.py reads.

local data = {contact = {}, message = {}}
local threads = {}
local counter = 0
-- `tid` (global) is set by setup() in each thread's own Lua state
local last_event = nil

-- weights of the mix (per 100 requests)
local MIX = {
  {"contact", 20},        -- GET /contacts/{id} (an audited read of personal data, R-65)
  {"consent_state", 10},  -- GET /contacts/{id}/consent
  {"messages", 15},       -- GET /messages?status=...&limit=20 (list with a filter)
  {"message", 20},        -- GET /messages/{id}
  {"event", 15},          -- POST /events (an upsert, Idempotency-Key)
  {"consent", 10},        -- POST /consent/events (the ledger, Idempotency-Key)
  {"organisation", 10},   -- GET /organisation
}
local STATUSES = {"scheduled", "sent", "delivered", "failed"}

-- the calls as their answers show them (a body marker each; replays are counted apart)
local MARKERS = {
  {"consent_state", '"informed"'},
  {"consent", '"prev_hash"'},
  {"event", '"scheduled_steps"'},
  {"message", '"timeline"'},
  {"messages", '"count"'},
  {"contact", '"phone"'},
  {"organisation", '"processes_health_data"'},
}

local function read_data(path)
  local file = assert(io.open(path, "r"), "cannot open the data file " .. tostring(path))
  for line in file:lines() do
    local name, value = line:match("^(%S+)%s+(.-)%s*$")
    if name == "contact" or name == "message" then
      table.insert(data[name], value)
    elseif name then
      data[name] = value
    end
  end
  file:close()
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  read_data(args[1])
  math.randomseed(os.time() + (tid or 0) * 7919)
  tid = tid or 0
  statuses, calls, answered, replayed, created = {}, {}, {}, 0, 0
end

local function pick(list)
  return list[math.random(#list)]
end

local function headers(extra)
  local h = {["Authorization"] = "Bearer " .. data.key, ["Accept"] = "application/json",
             ["Accept-Language"] = "en"}
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

local function next_key(kind)
  counter = counter + 1
  return string.format("load-%s-%s-%d-%d", data.nonce, kind, tid, counter)
end

local function choose()
  local roll, sum = math.random(100), 0
  for _, entry in ipairs(MIX) do
    sum = sum + entry[2]
    if roll <= sum then return entry[1] end
  end
  return MIX[1][1]
end

local builders = {
  contact = function() return wrk.format("GET", "/api/v1/contacts/" .. pick(data.contact), headers()) end,
  consent_state = function()
    return wrk.format("GET", "/api/v1/contacts/" .. pick(data.contact) .. "/consent", headers())
  end,
  messages = function()
    return wrk.format("GET", "/api/v1/messages?status=" .. pick(STATUSES) .. "&limit=20&offset="
                      .. math.random(0, 200), headers())
  end,
  message = function() return wrk.format("GET", "/api/v1/messages/" .. pick(data.message), headers()) end,
  organisation = function() return wrk.format("GET", "/api/v1/organisation", headers()) end,
  event = function()
    if last_event and math.random(10) == 1 then
      local again = last_event
      last_event = nil
      calls["event_replay"] = (calls["event_replay"] or 0) + 1
      return again
    end
    local key = next_key("event")
    local body = string.format(
      '{"external_id": "%s", "kind": "appointment", "contact_id": "%s", "purpose_id": %s, '
      .. '"starts_at": "2031-0%d-1%dT09:30:00+01:00", "params": {"place": "Salle %d"}}',
      key, pick(data.contact), data.purpose, math.random(1, 9), math.random(0, 9), math.random(1, 12))
    last_event = wrk.format("POST", "/api/v1/events",
                            headers({["Content-Type"] = "application/json", ["Idempotency-Key"] = key}), body)
    created = created + 1
    return last_event
  end,
  consent = function()
    local body = string.format(
      '{"contact_id": "%s", "purpose_id": %s, "channel": "sms", "action": "given", "expressed_by": "subject", '
      .. '"method": "api", "notice_id": %s, "evidence": {"form_ref": "load-%d"}}',
      pick(data.contact), data.consent_purpose, data.notice, math.random(1, 1000))
    return wrk.format("POST", "/api/v1/consent/events",
                      headers({["Content-Type"] = "application/json", ["Idempotency-Key"] = next_key("consent")}),
                      body)
  end,
}

function request()
  local kind = choose()
  calls[kind] = (calls[kind] or 0) + 1
  return builders[kind]()
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if headers["Idempotent-Replayed"] == "true" or headers["idempotent-replayed"] == "true" then
    replayed = replayed + 1
    return
  end
  if status >= 200 and status < 300 and body then
    for _, marker in ipairs(MARKERS) do
      if body:find(marker[2], 1, true) then
        answered[marker[1]] = (answered[marker[1]] or 0) + 1
        return
      end
    end
    answered["unrecognised"] = (answered["unrecognised"] or 0) + 1
  end
end

local function add(into, from)
  for k, v in pairs(from or {}) do into[k] = (into[k] or 0) + v end
end

function done(summary, latency, requests)
  local all_statuses, all_calls, all_answered, all_replayed, all_created = {}, {}, {}, 0, 0
  for _, thread in ipairs(threads) do
    add(all_statuses, thread:get("statuses"))
    add(all_calls, thread:get("calls"))
    add(all_answered, thread:get("answered"))
    all_replayed = all_replayed + (thread:get("replayed") or 0)
    all_created = all_created + (thread:get("created") or 0)
  end
  for k, v in pairs(all_statuses) do io.write(string.format("relance-load status %s %d\n", k, v)) end
  for k, v in pairs(all_calls) do io.write(string.format("relance-load sent %s %d\n", k, v)) end
  for k, v in pairs(all_answered) do io.write(string.format("relance-load answered %s %d\n", k, v)) end
  io.write(string.format("relance-load replayed %d\n", all_replayed))
  io.write(string.format("relance-load event_posts %d\n", all_created))
  local e = summary.errors
  io.write(string.format("relance-load errors connect=%d read=%d write=%d status=%d timeout=%d\n",
                         e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("relance-load requests %d duration_us %d bytes %d\n",
                         summary.requests, summary.duration, summary.bytes))
  for _, p in ipairs({50, 75, 90, 99, 99.9}) do
    io.write(string.format("relance-load latency_us p%s %d\n", tostring(p), latency:percentile(p)))
  end
  io.write(string.format("relance-load latency_us max %d\n", latency.max))
  io.write(string.format("relance-load latency_us mean %d\n", math.floor(latency.mean)))
end

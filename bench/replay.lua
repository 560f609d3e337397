-- wrk script: replay a list of URL paths (one per line), each thread from its own offset.
--   wrk -t2 -c32 -d5s -s bench/replay.lua http://127.0.0.1:8000 -- urls.txt [max_requests_per_thread]
-- A custom request() ignores the path of the URL given to wrk, so it is prepended here.
-- Requests are pre-built in init() and response() is left undefined, so wrk does not parse
-- bodies: the client does as little as it can. Each thread stops after max_requests_per_thread
-- requests (0: no limit) or at wrk's -d time limit, whichever comes first.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  local prefix = wrk.path
  if prefix == "/" then prefix = "" end
  requests = {}
  for line in io.lines(args[1]) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format("GET", prefix .. line)
    end
  end
  limit = tonumber(args[2] or "0") or 0
  sent = 0
  -- Spread the threads over the list so they do not send the same URLs in lockstep.
  position = ((thread_number or 1) - 1) * math.floor(#requests / 2)
end

function request()
  sent = sent + 1
  if limit > 0 and sent > limit then
    wrk.thread:stop()
  end
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, requests_stats)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "mean": %.1f, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end

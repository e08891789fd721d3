-- wrk script of benches/load/run.sh: `wrk ... -s bench.lua URL -- MODE [ARG...]`
--   none                   no Authorization header
--   header VALUE           the same Authorization header on every request (Basic, or one bearer token: cached)
--   tokens FILE THREADS N [OFFSET]
--                          one distinct bearer token per request: lines OFFSET+2..OFFSET+N+1 of FILE (line 1 is
--                          the cached rows' token; each round of run.sh takes its own OFFSET), wrk thread k of
--                          THREADS taking every THREADS-th line from the k-th; a thread that runs out starts over
--                          and counts the reused tokens
-- Every mode builds its requests in init() and request() only picks one, so wrk does the same work per request in
-- every row. done() prints one JSON line: requests/s, latency percentiles in microseconds, errors, token reuse.

local threads = {}

function setup(thread)
   thread:set("index", #threads)
   table.insert(threads, thread)
end

function init(args)
   local mode = args[1]
   reqs, sent, reused, ntokens = {}, 0, 0, 0
   if mode == "none" then
      reqs[1] = wrk.format("GET", wrk.path)
   elseif mode == "header" then
      reqs[1] = wrk.format("GET", wrk.path, { Authorization = args[2] })
   elseif mode == "tokens" then
      local nthreads, first = tonumber(args[3]), 2 + (tonumber(args[5]) or 0)
      local last, line = first + tonumber(args[4]) - 1, 0
      for token in io.lines(args[2]) do
         line = line + 1
         if line > last then
            break
         end
         if line >= first and (line - first) % nthreads == index then
            reqs[#reqs + 1] = wrk.format("GET", wrk.path, { Authorization = "Bearer " .. token })
         end
      end
      ntokens = #reqs
      if ntokens == 0 then
         error("no tokens for thread " .. index .. " in " .. args[2])
      end
   else
      error("unknown mode " .. tostring(mode))
   end
end

function request()
   sent = sent + 1
   local n = #reqs
   if sent > n and ntokens > 0 then
      reused = reused + 1
   end
   return reqs[(sent - 1) % n + 1]
end

function done(summary, latency, requests)
   local tokens, reused_total = 0, 0
   for _, t in ipairs(threads) do
      tokens = tokens + t:get("ntokens")
      reused_total = reused_total + t:get("reused")
   end
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"tokens":%d,"tokens_reused":%d}\n',
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout, tokens, reused_total))
end

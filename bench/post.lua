-- wrk script for bench/run.py: POST the JSON file named by the environment variable WRK_BODY_FILE.
--   WRK_BODY_FILE=body.json wrk -t1 -c16 -d10s --latency -s bench/post.lua http://127.0.0.1:PORT/cds-services/ID
local path = os.getenv("WRK_BODY_FILE")
assert(path, "set WRK_BODY_FILE to the request body file")
local file = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

-- A form POST (BODY) with an optional Authorization header (AUTH).
dofile(os.getenv("LUA_DIR") .. "/report.lua")
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
if os.getenv("AUTH") then wrk.headers["Authorization"] = os.getenv("AUTH") end

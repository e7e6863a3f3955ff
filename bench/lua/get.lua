-- A plain GET, reported by report.lua.
dofile(os.getenv("LUA_DIR") .. "/report.lua")

--[[
  Adds one model call's usage to the day's hash of every scope it counts under (person, channel, route,
  all, and its task), and lists the scopes in the day's index; all or none, from any process. The work is
  the add-usage helper's, which the task scripts that end a child's step share (a child's calls are counted
  in those; this script counts the parent turns' calls and any a child's run could not hand to a write).

  Input:
    KEYS[1]      the day's index of scopes
    KEYS[2]      the day's index of task scopes
    KEYS[2 + i]  the day's hash of the i-th scope; the first one is the 'all' scope

    ARGV[1]      seconds the hashes and the index are kept
    ARGV[2]      seconds a task's hash and the task index are kept (never longer than its record)
    ARGV[3..7]   input, cached, output tokens, cost, calls
    ARGV[7 + i]  name of the i-th scope (as listed in the index)

  Output: 1
]]
--- @include "../../redis/lua/add-usage"

add_usage({{keys = KEYS, args = ARGV}})
return 1

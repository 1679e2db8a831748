-- Helper: whether `count` more active tasks would break a person's, a channel's, the deployment's or the
-- queued-tasks quota (quotas: {user, channel, total, queued}, each a limit or 0 for none; keys: the four
-- sets in that order). Returns the refusal {outcome, count found}, or nil when every quota holds.
local function over_quota(keys, quotas, count)
  for index, check in ipairs({{'over_user', quotas.user}, {'over_channel', quotas.channel},
      {'over_total', quotas.total}, {'over_queued', quotas.queued}}) do
    local limit = tonumber(check[2]) or 0
    if limit > 0 then
      local found = redis.call('SCARD', keys[index])
      if found + count > limit then return {check[1], tostring(found)} end
    end
  end
  return nil
end

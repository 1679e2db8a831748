-- Helper: appends one event to a task's event stream, trimmed to about max_events.
local function add_event(events_key, max_events, event_type, at, text)
  redis.call('XADD', events_key, 'MAXLEN', '~', max_events, '*', 'type', event_type, 'at', at, 'text', text)
end

// NAME
//   event_handles.cc - the event base every daemon loop uses
// DESCRIPTION
//   See event_handles.h.

#include "event_handles.h"

namespace mtep::server {

Result<EventBasePtr> makeEventBase() {
  EventConfigPtr ec(event_config_new());
  if (!ec) return Error(ErrorKind::kInternal, "event_config_new failed");
  event_config_set_flag(ec.get(), EVENT_BASE_FLAG_NOLOCK);
  event_config_set_flag(ec.get(), EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
  EventBasePtr base(event_base_new_with_config(ec.get()));
  if (!base) return Error(ErrorKind::kInternal, "event_base_new failed");
  return base;
}

}  // namespace mtep::server

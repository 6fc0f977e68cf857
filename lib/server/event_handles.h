#pragma once
// NAME
//   event_handles.h - RAII owners for libevent handles
// SUMMARY
//   EventBasePtr base(event_base_new());
//   EventPtr timer(evtimer_new(base.get(), cb, arg));
// DESCRIPTION
//   One generic deleter template, one alias per libevent type, so no
//   event_base, event, bufferevent or evconnlistener is ever freed by hand.
//   makeEventBase() gives the base every daemon loop uses: one thread, no
//   locking, epoll's changelist on.
// SEE ALSO
//   STYLE.md rule 15.

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <memory>

#include "util/result.h"
#include "util/unique_fd.h"

namespace mtep::server {

template <typename T, void (*Free)(T*)>
struct HandleDeleter {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Free(p);
  }
};

using EventBasePtr = std::unique_ptr<event_base, HandleDeleter<event_base, event_base_free>>;
using EventPtr = std::unique_ptr<event, HandleDeleter<event, event_free>>;
using BufferEventPtr = std::unique_ptr<bufferevent, HandleDeleter<bufferevent, bufferevent_free>>;
using ListenerPtr =
    std::unique_ptr<evconnlistener, HandleDeleter<evconnlistener, evconnlistener_free>>;
using EventConfigPtr =
    std::unique_ptr<event_config, HandleDeleter<event_config, event_config_free>>;

// A base for one thread: EVENT_BASE_FLAG_NOLOCK (no libevent call may come
// from another thread; see work_queue.h for how workers report back) and
// EPOLL_USE_CHANGELIST (the add/remove of a write event within one loop
// turn folds into one epoll_ctl, or none). kInternal when libevent fails.
Result<EventBasePtr> makeEventBase();

// Plain file descriptors: mtep::UniqueFd, from lib/util/unique_fd.h.

}  // namespace mtep::server

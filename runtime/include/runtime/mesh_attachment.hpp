// What the runtime tells the node-level mesh endpoint about instances' network namespaces, so
// that the endpoint listens inside every instance before its process starts and knows, per
// connection, which function is calling. The mesh module implements it; the runtime never names
// the mesh (it depends on nothing above it).
//
// Calls come from the runtime on the io_context's thread; implementations must not block it
// and must not call back into the runtime.
#pragma once

#include <cstdint>
#include <string>

namespace fnd::runtime {

class MeshAttachment {
 public:
  virtual ~MeshAttachment() = default;

  // The TCP port the endpoint listens on inside every instance, on 127.0.0.1.
  virtual uint16_t port() const = 0;

  // A new instance's namespace is ready and nothing runs in it yet. `listener` is a TCP socket
  // listening on 127.0.0.1:port() inside that namespace (non-blocking, close-on-exec), owned by
  // the attachment from now on. `function` is the function the instance serves, or empty for a
  // stem cell that no function has taken yet (its listener must not serve until assign()).
  virtual void attach(const std::string& instance_id, const std::string& function, int listener) = 0;

  // The stem cell `instance_id` now belongs to `function` for the rest of its life. Called
  // before its bootstrap loads the function's code.
  virtual void assign(const std::string& instance_id, const std::string& function) = 0;

  // The instance is gone (or never started): its listener and its connections are closed.
  // Ids that were never attached are ignored.
  virtual void detach(const std::string& instance_id) = 0;
};

}  // namespace fnd::runtime

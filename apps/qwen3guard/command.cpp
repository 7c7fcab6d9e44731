#include "command.h"

namespace qg::app {

std::vector<Command>& registry() {
  static std::vector<Command> commands;  // filled by static Registrars before main()
  return commands;
}

}  // namespace qg::app

# keel_library(NAME <name> SRCS ... DEPS ...): a module as a static library `keel_<name>`,
# aliased `keel::<name>`. DEPS lists what the module may use; anything else fails to link,
# which is how the build keeps the dependency direction of DESIGN.md.
# GCC 12's -Wmaybe-uninitialized fires falsely inside std::function/std::variant/<regex> at
# -O2 (the release preset); it is not an error we can act on, so it is off for GCC.
set(KEEL_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers
    $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)

function(keel_library)
  cmake_parse_arguments(K "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(keel_${K_NAME} STATIC ${K_SRCS})
  add_library(keel::${K_NAME} ALIAS keel_${K_NAME})
  target_include_directories(keel_${K_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(keel_${K_NAME} PRIVATE ${KEEL_WARNINGS})
  target_link_libraries(keel_${K_NAME} PUBLIC ${K_DEPS})
endfunction()

# keel_test(NAME <name> SRCS ... DEPS ... [LABELS ...]): a GoogleTest binary registered with
# CTest. Labels: unit, integration, slow.
function(keel_test)
  cmake_parse_arguments(K "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${K_NAME} ${K_SRCS})
  target_compile_options(${K_NAME} PRIVATE ${KEEL_WARNINGS})
  target_link_libraries(${K_NAME} PRIVATE ${K_DEPS} GTest::gtest GTest::gtest_main)
  if(NOT K_LABELS)
    set(K_LABELS unit)
  endif()
  add_test(NAME ${K_NAME} COMMAND ${K_NAME})
  set_tests_properties(${K_NAME} PROPERTIES LABELS "${K_LABELS}"
    ENVIRONMENT "KEEL_BIN_DIR=${PROJECT_BINARY_DIR};KEEL_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# The installable part of muelab (docs/development.md §2, "As a CMake package"): the rule engine and
# the simulation libraries as an exported target set, so that another CMake project can
#   find_package(muelab 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE muelab::theory muelab::sim_sde)
# after `cmake --install <build> --prefix <prefix>`. Inside this tree the same names are ALIAS targets.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# muelab_install_library(<target> <exported name> [<include folder>]): muelab::<exported name>, its
# archive and the headers under its include folder (default: include/ beside its CMakeLists.txt). The library must state its include folder as
# $<BUILD_INTERFACE:...> and link muelab_warnings as $<BUILD_INTERFACE:muelab_warnings>.
function(muelab_install_library target export_name)
  add_library(muelab::${export_name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${export_name})
  install(TARGETS ${target} EXPORT muelabTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  if(ARGC GREATER 2)
    set(include_dir ${ARGV2})
  else()
    get_target_property(source_dir ${target} SOURCE_DIR)
    set(include_dir ${source_dir}/include)
  endif()
  install(DIRECTORY ${include_dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# Called once at the end of the top-level CMakeLists.txt, after every library exists.
function(muelab_install_package)
  set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/muelab)
  install(EXPORT muelabTargets NAMESPACE muelab:: DESTINATION ${config_dir})
  configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/muelabConfig.cmake.in
                                ${PROJECT_BINARY_DIR}/muelabConfig.cmake INSTALL_DESTINATION ${config_dir})
  write_basic_package_version_file(${PROJECT_BINARY_DIR}/muelabConfigVersion.cmake
                                   VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/muelabConfig.cmake ${PROJECT_BINARY_DIR}/muelabConfigVersion.cmake
          DESTINATION ${config_dir})
  install(TARGETS muelab RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# muelab_check_links(): every muelab_* name a target links must be a target of this build. A name that
# is not (a library of a part left out with MUELAB_SKIP_PARTS, a typo) would otherwise surface only
# at link time as "-lmuelab_sim_sde: not found". tests/build/check_link_graph.py checks the rest of
# the graph against the includes (docs/development.md §2).
function(_muelab_collect_targets dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _muelab_collect_targets(${sub} sub_targets)
    list(APPEND targets ${sub_targets})
  endforeach()
  set(${out} ${targets} PARENT_SCOPE)
endfunction()

function(muelab_check_links)
  _muelab_collect_targets(${PROJECT_SOURCE_DIR} targets)
  foreach(target IN LISTS targets)
    get_target_property(type ${target} TYPE)
    if(type STREQUAL "UTILITY")
      continue()
    endif()
    get_target_property(links ${target} LINK_LIBRARIES)
    get_target_property(interface_links ${target} INTERFACE_LINK_LIBRARIES)
    foreach(link IN LISTS links interface_links)
      if(link MATCHES "^muelab_" AND NOT TARGET ${link})
        message(FATAL_ERROR "${target} links ${link}, which is not part of this build "
                            "(MUELAB_SKIP_PARTS='${MUELAB_SKIP_PARTS}', MUELAB_CUDA=${MUELAB_CUDA})")
      endif()
    endforeach()
  endforeach()
endfunction()

# The git revision written next to every experiment's results (docs/development.md §3). It is read
# at BUILD time, not at configure time: a build after a commit (or an edit) without re-running cmake
# must not label its results with the older revision. The target muelab_revision rewrites
# ${MUELAB_REVISION_HEADER} on every build, but only when the revision changed (no needless rebuilds).
set(MUELAB_REVISION_HEADER ${CMAKE_BINARY_DIR}/generated/muelab/revision.hpp)
add_custom_target(muelab_revision
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${PROJECT_SOURCE_DIR} -DOUTPUT=${MUELAB_REVISION_HEADER}
          -P ${PROJECT_SOURCE_DIR}/cmake/WriteRevision.cmake
  BYPRODUCTS ${MUELAB_REVISION_HEADER}
  COMMENT "git revision -> ${MUELAB_REVISION_HEADER}")

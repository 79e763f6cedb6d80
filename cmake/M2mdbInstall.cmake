# Install rules and the two packages an embedding program finds m2mdb with:
#   find_package(m2mdb CONFIG REQUIRED)  ->  m2mdb::engine, m2mdb::query
#   pkg-config --cflags --libs m2mdb     ->  the same, for any build system
# Included at the end of the top-level CMakeLists.txt, once every target exists.
#
# The engine is several libraries (one per layer, so that a stray include
# across layers fails to link). Rather than keep a second list of them here,
# the libraries to install are found by walking the link dependencies of
# m2mdb_query and m2mdb_engine: a library split or added in engine/ or query/
# is installed, exported and listed in m2mdb.pc without touching this file.
include(CMakePackageConfigHelpers)

set(M2MDB_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/m2mdb)

# Depth-first walk over LINK_LIBRARIES (private ones included: a static
# library needs them at the consumer's link), state in global properties since
# CMake functions return nothing. Gives M2MDB_OWN_LIBS in link order (every
# library before the ones it needs) and M2MDB_EXTERNAL_LIBS (imported targets).
function(m2mdb_visit tgt)
  get_target_property(real ${tgt} ALIASED_TARGET)
  if(NOT real)
    set(real ${tgt})
  endif()
  get_property(visited GLOBAL PROPERTY M2MDB_VISITED)
  if(real IN_LIST visited)
    return()
  endif()
  set_property(GLOBAL APPEND PROPERTY M2MDB_VISITED ${real})
  get_target_property(links ${real} LINK_LIBRARIES)
  if(links)
    foreach(dep IN LISTS links)
      if(TARGET ${dep})
        get_target_property(imported ${dep} IMPORTED)
        if(imported)
          get_property(external GLOBAL PROPERTY M2MDB_EXTERNAL)
          if(NOT dep IN_LIST external)
            set_property(GLOBAL APPEND PROPERTY M2MDB_EXTERNAL ${dep})
          endif()
        else()
          m2mdb_visit(${dep})
        endif()
      endif()
    endforeach()
  endif()
  # Post-order: everything `real` needs is already listed.
  set_property(GLOBAL APPEND PROPERTY M2MDB_POSTORDER ${real})
endfunction()

set_property(GLOBAL PROPERTY M2MDB_VISITED "")
set_property(GLOBAL PROPERTY M2MDB_EXTERNAL "")
set_property(GLOBAL PROPERTY M2MDB_POSTORDER "")
m2mdb_visit(m2mdb_query)
m2mdb_visit(m2mdb_engine)
get_property(M2MDB_OWN_LIBS GLOBAL PROPERTY M2MDB_POSTORDER)
list(REVERSE M2MDB_OWN_LIBS)
get_property(M2MDB_EXTERNAL_LIBS GLOBAL PROPERTY M2MDB_EXTERNAL)

# The installed include directory carries both public trees
# (engine/include/m2mdb, query/include/m2mdb/query); C++20 is what the public
# headers are written in, so consumers of the CMake targets get it too.
target_include_directories(m2mdb_util PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(m2mdb_util PUBLIC cxx_std_20)

foreach(lib IN LISTS M2MDB_OWN_LIBS)
  string(REGEX REPLACE "^m2mdb_" "" export_name ${lib})
  set_target_properties(${lib} PROPERTIES EXPORT_NAME ${export_name} VERSION ${PROJECT_VERSION}
                                          SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
endforeach()

install(TARGETS ${M2MDB_OWN_LIBS}
  EXPORT m2mdbTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/engine/include/m2mdb ${PROJECT_SOURCE_DIR}/query/include/m2mdb
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
set(M2MDB_BINARIES "")
foreach(bin m2mdb m2mdb-bench)
  if(TARGET ${bin})
    list(APPEND M2MDB_BINARIES ${bin})
  endif()
endforeach()
if(M2MDB_BINARIES)
  install(TARGETS ${M2MDB_BINARIES} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  # With BUILD_SHARED_LIBS the binaries also need the libraries that are not
  # part of the package (m2mdb_server, m2mdb_client, ...): installed beside
  # the others, not exported.
  set_property(GLOBAL PROPERTY M2MDB_VISITED "")
  set_property(GLOBAL PROPERTY M2MDB_POSTORDER "")
  foreach(bin IN LISTS M2MDB_BINARIES)
    m2mdb_visit(${bin})
  endforeach()
  get_property(bin_deps GLOBAL PROPERTY M2MDB_POSTORDER)
  set(private_shared "")
  foreach(lib IN LISTS bin_deps)
    get_target_property(type ${lib} TYPE)
    if(type STREQUAL "SHARED_LIBRARY" AND NOT lib IN_LIST M2MDB_OWN_LIBS)
      list(APPEND private_shared ${lib})
    endif()
  endforeach()
  if(private_shared)
    install(TARGETS ${private_shared} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  endif()
endif()

# What the external imported targets become in the config file (find_dependency
# lines) and in m2mdb.pc (Requires modules, or flags for Libs).
set(M2MDB_FIND_DEPENDENCIES "")
set(M2MDB_PC_REQUIRES "")
set(M2MDB_PC_LIBS_EXTRA "")
set(deps_done "")
foreach(ext IN LISTS M2MDB_EXTERNAL_LIBS)
  if(ext MATCHES "^absl::(.+)$")
    list(APPEND M2MDB_PC_REQUIRES absl_${CMAKE_MATCH_1})
    set(dep "find_dependency(absl)")
  elseif(ext STREQUAL "RocksDB::rocksdb" OR ext STREQUAL "RocksDB::rocksdb-shared")
    list(APPEND M2MDB_PC_REQUIRES rocksdb)
    set(dep "find_dependency(RocksDB)")
  elseif(ext STREQUAL "Threads::Threads")
    list(APPEND M2MDB_PC_LIBS_EXTRA -pthread)
    set(dep "find_dependency(Threads)")
  elseif(ext MATCHES "^PkgConfig::(.+)$")
    # A pkg_check_modules(<prefix> IMPORTED_TARGET <module>) of ours (zstd, RE2):
    # the consumer runs the same one, so the exported name PkgConfig::<prefix> exists.
    set(prefix ${CMAKE_MATCH_1})
    if(NOT ${prefix}_MODULE_NAME)
      message(FATAL_ERROR "m2mdb packaging: no pkg-config module name for ${ext}")
    endif()
    list(APPEND M2MDB_PC_REQUIRES ${${prefix}_MODULE_NAME})
    set(dep "find_dependency(PkgConfig)\npkg_check_modules(${prefix} REQUIRED IMPORTED_TARGET ${${prefix}_MODULE_NAME})")
  else()
    message(FATAL_ERROR "m2mdb packaging: the installed libraries link ${ext}; say in "
                        "cmake/M2mdbInstall.cmake how a consumer finds it (config file and m2mdb.pc)")
  endif()
  string(REPLACE "\n" ";" dep_lines "${dep}")
  foreach(line IN LISTS dep_lines)
    if(NOT line IN_LIST deps_done)
      list(APPEND deps_done "${line}")
      string(APPEND M2MDB_FIND_DEPENDENCIES "${line}\n")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES M2MDB_PC_REQUIRES)
list(REMOVE_DUPLICATES M2MDB_PC_LIBS_EXTRA)

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/m2mdbConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/m2mdbConfig.cmake
  INSTALL_DESTINATION ${M2MDB_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/m2mdbConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(EXPORT m2mdbTargets NAMESPACE m2mdb:: DESTINATION ${M2MDB_CMAKE_DIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/m2mdbConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/m2mdbConfigVersion.cmake
  DESTINATION ${M2MDB_CMAKE_DIR})

# m2mdb.pc. The prefix is found from the .pc file's own place (${pcfiledir}),
# so `cmake --install build --prefix P` works for any P. With static libraries
# every dependency is in Requires and Libs, not only in the .private fields,
# so a plain `pkg-config --cflags --libs m2mdb` links.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(M2MDB_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(M2MDB_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" up "${up}")
  set(M2MDB_PC_PREFIX "\${pcfiledir}/${up}")
  set(M2MDB_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(M2MDB_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(M2MDB_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(M2MDB_PC_LIBS "")
foreach(lib IN LISTS M2MDB_OWN_LIBS)
  string(APPEND M2MDB_PC_LIBS " -l${lib}")
endforeach()
list(JOIN M2MDB_PC_REQUIRES " " M2MDB_PC_REQUIRES)
list(JOIN M2MDB_PC_LIBS_EXTRA " " M2MDB_PC_LIBS_EXTRA)
configure_file(${CMAKE_CURRENT_LIST_DIR}/m2mdb.pc.in ${CMAKE_CURRENT_BINARY_DIR}/m2mdb.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/m2mdb.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

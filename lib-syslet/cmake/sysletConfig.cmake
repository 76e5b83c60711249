# CMake package for lib-syslet:  find_package(syslet REQUIRED)
#   syslet::syslet  header-only C++20 library (headers + the syslet uapi header)
#   syslet::aio     libsyslet-aio.so, POSIX AIO on syslets (for LD_PRELOAD or linking)
# Relocatable: everything is found relative to this file (<prefix>/lib/cmake/syslet).
get_filename_component(_syslet_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET syslet::syslet)
  add_library(syslet::syslet INTERFACE IMPORTED)
  set_target_properties(syslet::syslet PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_syslet_prefix}/include"
    INTERFACE_COMPILE_FEATURES cxx_std_20)
endif()

if(NOT TARGET syslet::aio AND EXISTS "${_syslet_prefix}/lib/libsyslet-aio.so")
  add_library(syslet::aio SHARED IMPORTED)
  set_target_properties(syslet::aio PROPERTIES
    IMPORTED_LOCATION "${_syslet_prefix}/lib/libsyslet-aio.so")
endif()

set(syslet_VERSION 0.1.0)
set(syslet_FOUND TRUE)
unset(_syslet_prefix)

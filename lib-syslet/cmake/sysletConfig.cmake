# CMake package for lib-syslet:  find_package(syslet REQUIRED)
#   syslet::syslet  header-only C++20 library (headers + the syslet uapi header)
#   syslet::aio     libsyslet-aio.so.0, POSIX AIO on syslets (for LD_PRELOAD or linking)
# Relocatable: everything is found relative to this file (<prefix>/lib/cmake/syslet).
get_filename_component(_syslet_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET syslet::syslet)
  find_package(Threads REQUIRED)
  add_library(syslet::syslet INTERFACE IMPORTED)
  set_target_properties(syslet::syslet PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_syslet_prefix}/include;${_syslet_prefix}/include/syslet/uapi"
    INTERFACE_COMPILE_FEATURES cxx_std_20
    INTERFACE_LINK_LIBRARIES Threads::Threads)
endif()

if(NOT TARGET syslet::aio AND EXISTS "${_syslet_prefix}/lib/libsyslet-aio.so.0")
  add_library(syslet::aio SHARED IMPORTED)
  set_target_properties(syslet::aio PROPERTIES
    IMPORTED_LOCATION "${_syslet_prefix}/lib/libsyslet-aio.so.0"
    IMPORTED_SONAME "libsyslet-aio.so.0")
endif()

set(syslet_VERSION 0.2.0)
set(syslet_FOUND TRUE)
unset(_syslet_prefix)

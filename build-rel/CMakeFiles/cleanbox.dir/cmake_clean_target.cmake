file(REMOVE_RECURSE
  "libcleanbox.a"
)

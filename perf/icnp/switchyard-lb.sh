# Switchyard in place of the ECMP router (sourced by anycast.sh).
switchyard_build() { echo "anycast.sh: --balancer switchyard needs branch ctl (switchyard ctl)" >&2; exit 1; }

"""supervisord event listener: counts exits and brings FATAL programs back after a cool-down."""

"""Identity of the simulated world the sandbox runs in.

One place, so the bootstrap (which writes the Connect configuration into SSM), the
simulator (which answers for that Connect instance and WhatsApp business number) and
`.sandbox/env` can never disagree.
"""

from typing import Final

REGION: Final = "us-east-1"
ACCOUNT_ID: Final = "123456789012"

# Meta's ids for the simulated WhatsApp Business Account and its phone number.
WABA_ID: Final = "100000000000001"
BUSINESS_PHONE_NUMBER_ID: Final = "200000000000002"
BUSINESS_DISPLAY_NUMBER: Final = "15550001111"

# EUM Social's ids for the same: the ARN suffix is EUM's own hex id, not Meta's.
EUM_PHONE_NUMBER_HEX: Final = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
EUM_WABA_HEX: Final = "f9e8d7c6b5a4938271605f4e3d2c1b0a"
BUSINESS_PHONE_NUMBER_ARN: Final = (
    f"arn:aws:social-messaging:{REGION}:{ACCOUNT_ID}:phone-number-id/{EUM_PHONE_NUMBER_HEX}"
)
WABA_ARN: Final = f"arn:aws:social-messaging:{REGION}:{ACCOUNT_ID}:waba/{EUM_WABA_HEX}"

CONNECT_INSTANCE_ID: Final = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
CONTACT_FLOW_ID: Final = "ffffffff-1111-4222-8333-444444444444"

DUMMY_ACCESS_KEY: Final = "sandbox"
DUMMY_SECRET_KEY: Final = "sandbox"  # noqa: S105  not a secret: the embedded AWS accepts any key

DEFAULT_AWS_PORT: Final = 4566
DEFAULT_SIM_PORT: Final = 8081
DEFAULT_ADMIN_PORT: Final = 8080

from core import status as st

from ..api.errors import ApiError
from ..models import Message
from .status import message_transition, stored_text


def message_cancel(
    *, message: Message, source: str = "client", description: str = "Cancelled by the client."
) -> Message:
    """Cancel a message that has not left yet; 409 once it has."""
    if not message_transition(
        message=message,
        new_status=st.CANCELLED_BY_CLIENT,
        source=source,
        expect=st.CANCELLABLE,
        description=description,
        updates=stored_text(message),
    ):
        message.refresh_from_db()
        raise ApiError(
            "already_sent",
            f"The message can no longer be cancelled: it is {message.status}.",
            status=409,
        )
    return message
